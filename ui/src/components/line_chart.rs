//! The metric pages' chart: one line per series (stacked: filled bands), a legend, a value and a
//! time axis, a hover line with every series' value at that time, exemplar dots that open their
//! trace, and drag-to-zoom (the page turns the dragged span into its new time range). A click
//! that is not a drag picks the series under the pointer at that time, for pages that act on it.
//! Geometry comes from `logic::metric_chart`; this only draws.

use leptos::html::Div;
use leptos::prelude::*;
use web_sys::MouseEvent;

use crate::app::{Location, is_plain_click};
use crate::clock::utc_offset_minutes;
use crate::logic::chart::{time_step, time_ticks};
use crate::logic::log_search::drag_range;
use crate::logic::metric_chart::{
    ChartSeries, Unit, VIEW_HEIGHT, VIEW_WIDTH, format_value, fraction, geometry, meaningful_color,
    nearest_time, series_near, values_at,
};
use crate::logic::trace_search::SearchRange;
use crate::logic::{Route, format_clock, format_timestamp};

/// Series colours, in legend order: distinct hues that read as thin lines on white. No pure
/// red: red means errors (the 5xx status class gets it, `meaningful_color`).
const COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#2f4b7c",
];

/// The colour of the `i`th series.
pub fn series_color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

/// An exemplar to mark: where it is and the trace it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarDot {
    pub t_ms: i64,
    pub value: f64,
    pub trace_id: String,
}

#[component]
pub fn LineChart(
    series: Vec<ChartSeries>,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    unit: Unit,
    #[prop(optional)] stacked: bool,
    #[prop(optional)] exemplars: Vec<ExemplarDot>,
    zoom: Callback<SearchRange>,
    /// A click on the plot: the series under the pointer and the time of the point.
    #[prop(optional)]
    pick: Option<Callback<(usize, i64)>>,
    /// Text for `data-testid`, so tests find one chart among several.
    #[prop(optional, into)]
    test_id: String,
) -> impl IntoView {
    let location = Location::current();
    let plot = NodeRef::<Div>::new();
    let drag = RwSignal::new(None::<(f64, f64)>);
    let hover = RwSignal::new(None::<i64>);
    let marks: Vec<f64> = exemplars
        .iter()
        .filter(|e| e.t_ms >= start_ms && e.t_ms <= end_ms)
        .map(|e| e.value)
        .collect();
    let shape = geometry(&series, &marks, start_ms, end_ms, step_ms, stacked);
    let colors: Vec<&'static str> = series
        .iter()
        .enumerate()
        .map(|(i, s)| meaningful_color(&s.labels).unwrap_or(series_color(i)))
        .collect();
    let colors = StoredValue::new(colors);
    let color = move |i: usize| colors.with_value(|c| c.get(i).copied().unwrap_or(series_color(i)));
    let (y_min, y_max) = (shape.y_min, shape.y_max);
    let series = StoredValue::new(series);
    let span = (end_ms - start_ms).max(1) as f64;
    let pointer = move |event: &MouseEvent| -> Option<(f64, f64, f64, f64)> {
        let rect = plot.get_untracked()?.get_bounding_client_rect();
        Some((
            f64::from(event.client_x()) - rect.left(),
            f64::from(event.client_y()) - rect.top(),
            rect.width(),
            rect.height(),
        ))
    };
    let time_at = move |x: f64, width: f64| start_ms + ((x / width).clamp(0.0, 1.0) * span) as i64;

    let grid = shape
        .y_ticks
        .iter()
        .map(|v| {
            let y = VIEW_HEIGHT - fraction(*v, y_min, y_max) * VIEW_HEIGHT;
            view! { <line class="mc-grid" x1="0" x2=VIEW_WIDTH y1=y y2=y></line> }
        })
        .collect_view();
    let y_labels = shape
        .y_ticks
        .iter()
        .map(|v| {
            let at = fraction(*v, y_min, y_max) * 100.0;
            view! {
                <span class="mc-ytick" style=format!("bottom: {at:.2}%")>{format_value(*v, unit)}</span>
            }
        })
        .collect_view();
    let areas = shape
        .areas
        .iter()
        .enumerate()
        .map(|(i, d)| {
            view! { <path class="mc-area" d=d.clone() fill=color(i)></path> }
        })
        .collect_view();
    let lines = shape
        .lines
        .iter()
        .enumerate()
        .map(|(i, d)| {
            view! {
                <path class="mc-line" d=d.clone() stroke=color(i) data-series=i></path>
            }
        })
        .collect_view();

    let start_ns = start_ms.max(0) as u64 * 1_000_000;
    let end_ns = end_ms.max(0) as u64 * 1_000_000;
    let offset = utc_offset_minutes(start_ns);
    let day_or_more = time_step(start_ns, end_ns, 6) >= 86_400_000_000_000;
    let x_labels = time_ticks(start_ns, end_ns, 6, offset)
        .into_iter()
        .map(|t| {
            let text = if day_or_more {
                format_timestamp(t, offset)[5..16].to_owned()
            } else {
                format_clock(t, offset)[..5].to_owned()
            };
            let at = crate::logic::chart::fraction(t, start_ns, end_ns);
            let shift = if at > 0.95 {
                100.0
            } else if at < 0.05 {
                0.0
            } else {
                50.0
            };
            view! {
                <span class="mc-xtick" style=format!("left: {:.3}%; transform: translateX(-{shift}%)", at * 100.0)>
                    {text}
                </span>
            }
        })
        .collect_view();

    let dots = exemplars
        .into_iter()
        .filter(|e| e.value.is_finite() && e.t_ms >= start_ms && e.t_ms <= end_ms)
        .map(|e| {
            let left = fraction(e.t_ms as f64, start_ms as f64, end_ms as f64) * 100.0;
            let bottom = fraction(e.value, y_min, y_max) * 100.0;
            let route = Route::Trace(e.trace_id.clone());
            let href = route.path();
            let title = format!(
                "Exemplar {} at {} · open trace {}",
                format_value(e.value, unit),
                format_timestamp(e.t_ms as u64 * 1_000_000, offset),
                crate::logic::short_id(&e.trace_id)
            );
            view! {
                <a
                    class="mc-exemplar"
                    href=href
                    title=title
                    data-trace-id=e.trace_id.clone()
                    style=format!("left: {left:.3}%; bottom: {bottom:.3}%")
                    on:mousedown=|event: MouseEvent| event.stop_propagation()
                    on:click=move |event: MouseEvent| {
                        if is_plain_click(&event) {
                            event.prevent_default();
                            location.push(route.clone(), "");
                        }
                    }
                ></a>
            }
        })
        .collect_view();

    let legend = series.with_value(|all| {
        all.iter()
            .enumerate()
            .map(|(i, s)| {
                view! {
                    <li class="mc-legend-item" title=s.label.clone()>
                        <span class="mc-swatch" style=format!("background: {}", color(i))></span>
                        <span class="mc-legend-label">{s.label.clone()}</span>
                    </li>
                }
            })
            .collect_view()
    });

    let tooltip = move || {
        let t = hover.get()?;
        let rows = series.with_value(|all| values_at(all, t));
        let left = fraction(t as f64, start_ms as f64, end_ms as f64) * 100.0;
        let flip = left > 60.0;
        let rows_view = series.with_value(|all| {
            rows.iter()
                .take(12)
                .map(|(i, v)| {
                    view! {
                        <li>
                            <span class="mc-swatch" style=format!("background: {}", color(*i))></span>
                            <span class="mc-tip-label">{all[*i].label.clone()}</span>
                            <span class="mc-tip-value">{format_value(*v, unit)}</span>
                        </li>
                    }
                })
                .collect_view()
        });
        let more = rows.len().saturating_sub(12);
        Some(view! {
            <div class="mc-hover-line" style=format!("left: {left:.3}%")></div>
            <div
                class="mc-tooltip"
                data-testid="chart-tooltip"
                style=if flip {
                    format!("right: {:.3}%", 100.0 - left)
                } else {
                    format!("left: {left:.3}%")
                }
            >
                <div class="mc-tip-time">{format_timestamp(t as u64 * 1_000_000, offset)}</div>
                <ul>{rows_view}</ul>
                {(more > 0).then(|| view! { <div class="muted">{format!("and {more} more")}</div> })}
            </div>
        })
    };

    let finish = move |event: MouseEvent| {
        let Some((x0, _)) = drag.get_untracked() else {
            return;
        };
        drag.set(None);
        let Some((x1, y, width, height)) = pointer(&event) else {
            return;
        };
        let (start_ns, end_ns) = (start_ms as u64 * 1_000_000, end_ms as u64 * 1_000_000);
        if let Some(range) = drag_range(x0, x1, width, start_ns, end_ns) {
            zoom.run(range);
            return;
        }
        let Some(pick) = pick else { return };
        let picked = series.with_value(|all| {
            let t = nearest_time(all, time_at(x1, width))?;
            let i = series_near(all, t, y / height.max(1.0), y_min, y_max, stacked)?;
            Some((i, t))
        });
        if let Some(picked) = picked {
            pick.run(picked);
        }
    };
    let count = series.with_value(Vec::len);
    let test_id = if test_id.is_empty() {
        "metric-chart".to_owned()
    } else {
        test_id
    };
    view! {
        <div class="metric-chart" data-testid=test_id data-series=count>
            <div class="mc-body">
                <div class="mc-yaxis" aria-hidden="true">{y_labels}</div>
                <div
                    class="mc-plot"
                    class:pickable=pick.is_some()
                    node_ref=plot
                    data-testid="chart-plot"
                    on:mousedown=move |event: MouseEvent| {
                        if event.button() != 0 {
                            return;
                        }
                        event.prevent_default();
                        if let Some((x, ..)) = pointer(&event) {
                            drag.set(Some((x, x)));
                        }
                    }
                    on:mousemove=move |event: MouseEvent| {
                        let Some((x, _, width, _)) = pointer(&event) else { return };
                        if drag.with_untracked(Option::is_some) {
                            drag.update(|d| {
                                if let Some((_, x1)) = d {
                                    *x1 = x;
                                }
                            });
                        }
                        let t = series.with_value(|all| nearest_time(all, time_at(x, width)));
                        if hover.get_untracked() != t {
                            hover.set(t);
                        }
                    }
                    on:mouseup=finish
                    on:mouseleave=move |_| {
                        drag.set(None);
                        hover.set(None);
                    }
                >
                    <svg
                        class="mc-svg"
                        viewBox=format!("0 0 {VIEW_WIDTH} {VIEW_HEIGHT}")
                        preserveAspectRatio="none"
                        role="img"
                        aria-label="Chart of the query's series over time"
                    >
                        {grid}
                        {areas}
                        {lines}
                    </svg>
                    {dots}
                    {tooltip}
                    {move || {
                        drag.get()
                            .filter(|(a, b)| (a - b).abs() >= 3.0)
                            .map(|(a, b)| {
                                view! {
                                    <div
                                        class="mc-selection"
                                        style=format!("left: {}px; width: {}px", a.min(b), (a - b).abs())
                                    ></div>
                                }
                            })
                    }}
                </div>
            </div>
            <div class="mc-xaxis" aria-hidden="true">{x_labels}</div>
            <ul class="mc-legend" data-testid="chart-legend">{legend}</ul>
        </div>
    }
}
