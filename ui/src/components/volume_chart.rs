//! The log explorer's volume histogram: matching records per time bucket, stacked by severity
//! class in the severity colours, on the searched time range. Dragging across it selects a
//! narrower range, which the page searches (zooming in). Geometry comes from
//! `logic::log_search::volume_bars` and `logic::chart`; this only draws.

use leptos::html::Div;
use leptos::prelude::*;
use otelite_api::logs::LogVolume;
use web_sys::MouseEvent;

use crate::clock::utc_offset_minutes;
use crate::logic::chart::{fraction, time_step, time_ticks};
use crate::logic::log_search::{drag_range, volume_bars};
use crate::logic::trace_search::SearchRange;
use crate::logic::{format_clock, format_count, format_timestamp};

#[component]
pub fn VolumeChart(
    volume: LogVolume,
    start_ns: u64,
    end_ns: u64,
    zoom: Callback<SearchRange>,
) -> impl IntoView {
    let plot = NodeRef::<Div>::new();
    // The drag's start and current x, in pixels from the plot's left edge.
    let drag = RwSignal::new(None::<(f64, f64)>);
    let x_of = move |event: &MouseEvent| -> Option<(f64, f64)> {
        let el = plot.get_untracked()?;
        let rect = el.get_bounding_client_rect();
        Some((f64::from(event.client_x()) - rect.left(), rect.width()))
    };
    let (bars, tallest) = volume_bars(&volume, start_ns, end_ns);
    let offset = utc_offset_minutes(start_ns);
    let ticks = time_ticks(start_ns, end_ns, 6, offset);
    let day_or_more = time_step(start_ns, end_ns, 6) >= 86_400_000_000_000;
    let step = volume.step_ns;
    let bars = bars
        .into_iter()
        .map(|bar| {
            let title = format!(
                "{} · {} record{}",
                format_timestamp(bar.start_ns, utc_offset_minutes(bar.start_ns)),
                format_count(bar.count),
                if bar.count == 1 { "" } else { "s" }
            );
            view! {
                <div
                    class="volume-bar"
                    style=format!("left: {:.3}%; width: {:.3}%", bar.left, bar.width)
                    title=title
                    data-count=bar.count
                >
                    {bar
                        .stack
                        .into_iter()
                        .map(|(class, bottom, height)| {
                            view! {
                                <div
                                    class=format!("volume-piece sev-fill-{class}")
                                    style=format!("bottom: {bottom:.2}%; height: {height:.2}%")
                                ></div>
                            }
                        })
                        .collect_view()}
                </div>
            }
        })
        .collect_view();
    let labels = ticks
        .into_iter()
        .map(|t| {
            let text = if day_or_more {
                format_timestamp(t, offset)[5..10].to_owned()
            } else {
                format_clock(t, offset)
            };
            // Labels at the edges stay inside the chart.
            let at = fraction(t, start_ns, end_ns);
            let shift = if at > 0.95 {
                100.0
            } else if at < 0.05 {
                0.0
            } else {
                50.0
            };
            view! {
                <span
                    class="volume-tick"
                    style=format!("left: {:.3}%; transform: translateX(-{shift}%)", at * 100.0)
                >
                    {text}
                </span>
            }
        })
        .collect_view();
    let finish = move |event: MouseEvent| {
        let Some((x0, _)) = drag.get_untracked() else {
            return;
        };
        drag.set(None);
        let Some((x1, width)) = x_of(&event) else {
            return;
        };
        if let Some(range) = drag_range(x0, x1, width, start_ns, end_ns) {
            zoom.run(range);
        }
    };
    view! {
        <div class="card volume" data-testid="volume">
            <div class="volume-caption muted">
                <span>{format!("Most in one bucket: {}", format_count(tallest))}</span>
                <span>{format!("Bucket: {} · drag across to zoom in", crate::logic::format_nanos(step))}</span>
            </div>
            <div
                class="volume-plot"
                node_ref=plot
                data-testid="volume-plot"
                on:mousedown=move |event: MouseEvent| {
                    if event.button() != 0 {
                        return;
                    }
                    event.prevent_default();
                    if let Some((x, _)) = x_of(&event) {
                        drag.set(Some((x, x)));
                    }
                }
                on:mousemove=move |event: MouseEvent| {
                    if drag.with_untracked(Option::is_some)
                        && let Some((x, _)) = x_of(&event)
                    {
                        drag.update(|d| {
                            if let Some((_, x1)) = d {
                                *x1 = x;
                            }
                        });
                    }
                }
                on:mouseup=finish
                on:mouseleave=move |_| drag.set(None)
            >
                {bars}
                {move || {
                    drag.get()
                        .map(|(a, b)| {
                            view! {
                                <div
                                    class="volume-selection"
                                    style=format!("left: {}px; width: {}px", a.min(b), (a - b).abs())
                                ></div>
                            }
                        })
                }}
            </div>
            <div class="volume-axis" aria-hidden="true">{labels}</div>
        </div>
    }
}
